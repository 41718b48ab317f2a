"""Pure parsers: command output or file contents in, plain data out. No I/O here."""
