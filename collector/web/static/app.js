// Enhancements only: every page works without this file (plain links and forms).
// After htmx replaced a region (the hosts list after a filter change), focus moves to it,
// so a screen reader announces the new content and the keyboard continues from there.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = document.getElementById(event.detail.target.id) || event.detail.target;
  if (target && target.focus) {
    target.focus();
  }
});

// Empty filter fields stay out of the address, as the server's own links leave them out:
// a filtered list's URL stays short enough to read and bookmark.
document.addEventListener("htmx:configRequest", function (event) {
  var data = event.detail.formData;
  if (!data) {
    return;
  }
  var empty = [];
  data.forEach(function (value, key) {
    if (value === "") {
      empty.push(key);
    }
  });
  empty.forEach(function (key) {
    data.delete(key);
  });
});
