"""macOS probes: ``system_profiler -json`` per data type, ``fdesetup``, ``socketfilterfw``
and ``softwareupdate``, all through the one command runner, so they replay on Linux."""
