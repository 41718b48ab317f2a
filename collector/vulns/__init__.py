"""Known vulnerabilities: vendor feeds imported offline (collector.vulns.feeds,
collector.vulns.importer), matched against each host's packages and updates the way the
vendors match them (collector.vulns.matching), read by the API, findings, metrics and web UI
(collector.vulns.queries)."""
