# Build the Windows installer of AnyGPT Desktop in one command, from a clean checkout, in PowerShell:
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1            # CPU build
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1 -Variant cuda `
#       -TorchSpec "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# Output in dist\: AnyGPT-Desktop-<version>-windows-x64-<variant>-setup.exe (+ .bin slices for CUDA), a .zip of the
# one-folder bundle (CPU only), and SHA256SUMS-windows-<variant>.txt.
#
# NOT RUN on the project's machines (they are Linux only): written for a maintainer on Windows 10/11 x64 with
# Python 3.11 (python.org installer, "py" launcher) and Inno Setup 6 (ISCC.exe on PATH or in its default folder).
# The .github-style workflow packaging/ci/installers.yml runs this same script on windows-latest.
param(
    [string]$Variant = "cpu",
    [string]$TorchSpec = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
    [string]$Python = "py -3.11"
)
$ErrorActionPreference = "Stop"
$Repo = (Resolve-Path "$PSScriptRoot\..\..").Path
$Packaging = "$Repo\packaging"
$Work = "$Repo\build\packaging-windows"
$Dist = "$Repo\dist"
New-Item -ItemType Directory -Force -Path $Work, $Dist | Out-Null

function Run([string]$exe, [string[]]$argv) {
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { throw "$exe $($argv -join ' ') failed with exit code $LASTEXITCODE" }
}

# 1. Build venv: torch first (so pip keeps this build), then the project and PyInstaller.
$Venv = "$Work\venv-$Variant"
if (-not (Test-Path "$Venv\Scripts\python.exe")) {
    $pyParts = $Python.Split(" ")
    Run $pyParts[0] ($pyParts[1..($pyParts.Length - 1)] + @("-m", "venv", $Venv))
}
$Py = "$Venv\Scripts\python.exe"
Run $Py @("-m", "pip", "install", "-q", "--upgrade", "pip")
Run $Py (@("-m", "pip", "install", "-q") + $TorchSpec.Split(" "))
Run $Py @("-m", "pip", "install", "-q", $Repo)
Run $Py @("-m", "pip", "install", "-q", "-r", "$Packaging\requirements-build.txt")
$Version = & $Py -c "import tomllib; print(tomllib.load(open(r'$Repo\pyproject.toml', 'rb'))['project']['version'])"

# 2. Icon, then the one-folder bundle (anygpt-desktop.exe windowed + anygpt-desktop-cli.exe console).
$env:ANYGPT_ICON_DIR = "$Work\icons"
Run $Py @("$Packaging\make_icons.py", $env:ANYGPT_ICON_DIR)
Run $Py @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", "$Work\pyinstaller-dist",
          "--workpath", "$Work\pyinstaller-work", "$Packaging\anygpt-desktop.spec")
$Bundle = "$Work\pyinstaller-dist\anygpt-desktop"

# 3. Smoke test of the bundle before packaging it: the headless self-test on the tiny demo kit.
$env:QT_QPA_PLATFORM = "offscreen"
Run "$Bundle\anygpt-desktop-cli.exe" @("--self-test")
Remove-Item Env:\QT_QPA_PLATFORM

# 4. Installer (Inno Setup) and a portable zip.
$Iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source
if (-not $Iscc) { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
Run $Iscc @("/Q", "/DAppVersion=$Version", "/DVariant=$Variant", "/DBundleDir=$Bundle", "/DOutputDir=$Dist",
            "/DIconFile=$($env:ANYGPT_ICON_DIR)\anygpt-desktop.ico", "$Packaging\windows\anygpt-desktop.iss")
$Zip = "$Dist\anygpt-desktop-$Version-windows-x64-$Variant.zip"
if ($Variant -eq "cpu") {  # Compress-Archive cannot write zips over 2 GB, so the CUDA variant ships the installer only
    if (Test-Path $Zip) { Remove-Item $Zip }
    Compress-Archive -Path $Bundle -DestinationPath $Zip -CompressionLevel Optimal
}

# 5. Checksums (verify with: Get-FileHash -Algorithm SHA256 <file>, or sha256sum -c SHA256SUMS.txt in Git Bash).
$files = Get-ChildItem $Dist -File | Where-Object { $_.Name -like "AnyGPT-Desktop-$Version-windows-x64-$Variant-setup*" -or $_.FullName -eq $Zip }
$files | ForEach-Object { "{0}  {1}" -f (Get-FileHash -Algorithm SHA256 $_.FullName).Hash.ToLower(), $_.Name } |
    Set-Content -Encoding ascii "$Dist\SHA256SUMS-windows-$Variant.txt"
$files | ForEach-Object { Write-Host ("{0,8:N0} MB  {1}" -f ($_.Length / 1MB), $_.FullName) }
