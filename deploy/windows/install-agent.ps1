<#
.SYNOPSIS
  Installs the Inventar agent on Windows 10/11 and runs it as SYSTEM at every start.

.DESCRIPTION
  What it does, in order (deploy/windows/README.md explains each choice):
  1. A venv in C:\Program Files\Inventar\venv from an installed CPython >= 3.11, and the agent
     wheel into it. Every dependency has a win_amd64 wheel (CI checks it:
     .ci/windows_wheels.py), comtypes included, so no compiler is needed. With -WheelDir the
     install takes wheels only from that directory (an offline install).
  2. C:\ProgramData\Inventar\agent.toml and the state directory C:\ProgramData\Inventar\state,
     both with their inherited permissions removed and full control for SYSTEM (S-1-5-18) and
     the Administrators group (S-1-5-32-544) only. SIDs, not names: on a German Windows the
     group is called "Administratoren", and icacls would fail on "Administrators".
  3. Enrollment with the site's secret (read from a file, never from the command line).
  4. A scheduled task "Inventar Agent": at system start, as SYSTEM, highest privileges, no
     time limit, restarted every minute after a failure (a service wrapper such as NSSM would
     be one more binary to trust; python.exe itself is no service executable).

  NOT RUN: the project has no Windows machine; this script has not been run by the project.

.EXAMPLE
  .\install-agent.ps1 -Wheel .\inventar-0.1.0-py3-none-any.whl -Server https://collector.example:8740 -SecretFile .\secret.txt
#>
param(
  [Parameter(Mandatory)] [string] $Wheel,
  [Parameter(Mandatory)] [string] $Server,
  [Parameter(Mandatory)] [string] $SecretFile,
  [string] $Python = "py.exe",
  [string] $WheelDir,
  [string] $CaFile
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw "Run this script as Administrator."
}

$Root = Join-Path $env:ProgramFiles "Inventar"
$Data = Join-Path $env:ProgramData "Inventar"
$State = Join-Path $Data "state"
$Config = Join-Path $Data "agent.toml"
$Trusted = @("*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F")  # SYSTEM, Administrators

function Restrict([string] $Path) {
  # Remove inherited entries (Users may read ProgramData) and grant only SYSTEM and Administrators.
  & icacls.exe $Path /inheritance:r /grant:r @Trusted | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "icacls failed on $Path" }
  $others = (Get-Acl $Path).Access | Where-Object {
    $_.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value -notin @("S-1-5-18", "S-1-5-32-544")
  }
  if ($others) { throw "$Path is still accessible to: $($others.IdentityReference -join ', ')" }
}

# 1. venv and agent
New-Item -ItemType Directory -Force -Path $Root, $Data, $State | Out-Null
& $Python -3 -m venv (Join-Path $Root "venv")
if ($LASTEXITCODE -ne 0) { throw "creating the venv failed" }
$Venv = Join-Path $Root "venv\Scripts"
$Pip = @("-m", "pip", "install", "--only-binary=:all:")
if ($WheelDir) { $Pip += @("--no-index", "--find-links", $WheelDir) }
& (Join-Path $Venv "python.exe") @Pip $Wheel
if ($LASTEXITCODE -ne 0) { throw "installing the agent failed" }

# 2. configuration and state, readable by SYSTEM and Administrators only
Restrict $Data
if (-not (Test-Path $Config)) {
  # UTF-8 without a byte-order mark: the agent reads TOML, which has none.
  $toml = "server = `"$Server`"`r`nstate_dir = '$State'`r`n"
  [IO.File]::WriteAllText($Config, $toml, (New-Object Text.UTF8Encoding($false)))
}
Restrict $Config
Restrict $State

# 3. enrollment
$Agent = Join-Path $Venv "inventar-agent.exe"
$EnrollArgs = @("enroll", "--config", $Config, "--secret-file", $SecretFile)
if ($CaFile) { $EnrollArgs += @("--ca-file", $CaFile) }
& $Agent @EnrollArgs
if ($LASTEXITCODE -ne 0) { throw "enrollment failed (exit $LASTEXITCODE)" }

# 4. the scheduled task
$Action = New-ScheduledTaskAction -Execute $Agent -Argument "run --config `"$Config`""
$Trigger = New-ScheduledTaskTrigger -AtStartup
$Settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
  -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
$Task = New-ScheduledTaskPrincipal -UserId "S-1-5-18" -LogonType ServiceAccount -RunLevel Highest
Register-ScheduledTask -TaskName "Inventar Agent" -Action $Action -Trigger $Trigger -Settings $Settings `
  -Principal $Task -Force | Out-Null
Start-ScheduledTask -TaskName "Inventar Agent"
Write-Host "Inventar agent installed; task 'Inventar Agent' started. Check: & '$Agent' status --config '$Config'"
