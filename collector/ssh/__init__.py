"""Agentless collection over SSH (paramiko): the agent's Linux probes and parsers, run against
a remote host through an SSH command runner, SFTP file access and psutil-style facts read
from the remote /proc and /sys. Reports flow through the same ingestion as agents' reports,
marked ``source: ssh``."""
