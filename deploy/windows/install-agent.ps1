<#
.SYNOPSIS
  Installs the Inventar agent on Windows 10/11 as a service (a scheduled task at startup).

.DESCRIPTION
  Decisions:
  - Python: an installed CPython >= 3.11 (python.org installer or winget "Python.Python.3.12")
    creates a venv in C:\Program Files\Inventar\venv. psutil, pydantic-core and apscheduler
    publish Windows wheels (win_amd64, win_arm64 for psutil/pydantic-core; apscheduler is pure
    Python), so no compiler is needed.
  - Service: a scheduled task "Inventar Agent" at system startup running as SYSTEM
    (`inventar-agent run`), restarted on failure. Not NSSM (an extra binary) and not sc.exe
    (python.exe is no service executable).
  - Configuration: C:\ProgramData\Inventar\agent.toml (same keys as on Linux); state and
    spool in C:\ProgramData\Inventar\state.

  UNTESTED: this script has not been run on a real Windows machine by the project yet.

.EXAMPLE
  .\install-agent.ps1 -Wheel .\inventar-0.1.0-py3-none-any.whl -Server https://collector:8740 -SecretFile .\secret.txt
#>
param(
  [Parameter(Mandatory)] [string] $Wheel,
  [Parameter(Mandatory)] [string] $Server,
  [Parameter(Mandatory)] [string] $SecretFile,
  [string] $Python = "py.exe",
  [string] $CaFile
)
$ErrorActionPreference = "Stop"
$Root = Join-Path $env:ProgramFiles "Inventar"
$Data = Join-Path $env:ProgramData "Inventar"
New-Item -ItemType Directory -Force -Path $Root, $Data | Out-Null

& $Python -3 -m venv (Join-Path $Root "venv")
$Venv = Join-Path $Root "venv\Scripts"
& (Join-Path $Venv "python.exe") -m pip install --upgrade pip
& (Join-Path $Venv "python.exe") -m pip install $Wheel   # pulls psutil, pydantic, apscheduler

$Config = Join-Path $Data "agent.toml"
if (-not (Test-Path $Config)) {
  @"
server = "$Server"
state_dir = '$Data\state'
"@ | Set-Content -Encoding UTF8 $Config
}
# Only SYSTEM and Administrators may read the configuration and the token.
icacls $Data /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null

$Agent = Join-Path $Venv "inventar-agent.exe"
$EnrollArgs = @("enroll", "--config", $Config, "--secret-file", $SecretFile)
if ($CaFile) { $EnrollArgs += @("--ca-file", $CaFile) }
& $Agent @EnrollArgs

$Action = New-ScheduledTaskAction -Execute $Agent -Argument "run --config `"$Config`""
$Trigger = New-ScheduledTaskTrigger -AtStartup
$Settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
  -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable
Register-ScheduledTask -TaskName "Inventar Agent" -Action $Action -Trigger $Trigger -Settings $Settings `
  -User "SYSTEM" -RunLevel Highest -Force | Out-Null
Start-ScheduledTask -TaskName "Inventar Agent"
Write-Host "Inventar agent installed; task 'Inventar Agent' started."
