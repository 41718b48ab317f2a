// Enhancements only: every page works without this file (plain links and forms).
// After htmx replaced a region (the hosts list after a filter change), focus moves to it,
// so a screen reader announces the new content and the keyboard continues from there.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = document.getElementById(event.detail.target.id) || event.detail.target;
  if (target && target.focus) {
    target.focus();
  }
});
