"""macOS probes: ``system_profiler`` per data type (hardware, software, Wi-Fi, displays,
applications), ``fdesetup``, ``socketfilterfw`` and ``softwareupdate``, all through the one
command runner, so they replay on Linux."""
