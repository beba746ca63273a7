; Inno Setup 6 script: AnyGPT-Desktop-<version>-windows-x64-<variant>-setup.exe from the PyInstaller one-folder bundle.
; NOT RUN on the project's machines (Linux only): written for a maintainer on Windows; build_windows.ps1 calls it as
;   ISCC.exe /DAppVersion=0.1.0 /DVariant=cpu /DBundleDir=...\anygpt-desktop /DOutputDir=...\dist /DIconFile=...ico anygpt-desktop.iss
; Model weights are never included: the app downloads them through its model manager.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\build\packaging\pyinstaller-dist\anygpt-desktop"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
AppId={{6D0F7F51-4C1B-4C5E-9B7A-0A9E2C4D7A11}
AppName=AnyGPT Desktop
AppVersion={#AppVersion}
AppVerName=AnyGPT Desktop {#AppVersion} ({#Variant})
AppPublisher=AnyGPT Desktop maintainers
DefaultDirName={autopf}\AnyGPT Desktop
DefaultGroupName=AnyGPT Desktop
DisableProgramGroupPage=yes
OutputDir={#OutputDir}
OutputBaseFilename=AnyGPT-Desktop-{#AppVersion}-windows-x64-{#Variant}-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; per-user install without UAC unless the user picks "all users"
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
Compression=lzma2/fast
SolidCompression=no
; the CUDA bundle is 4-5 GB: past one file's limit, so it is split into setup.exe + .bin slices of up to 2 GB
#if Variant == "cuda"
DiskSpanning=yes
DiskSliceSize=2000000000
#endif
#ifdef IconFile
SetupIconFile={#IconFile}
#endif
UninstallDisplayIcon={app}\anygpt-desktop.exe
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\AnyGPT Desktop"; Filename: "{app}\anygpt-desktop.exe"
Name: "{group}\AnyGPT Desktop self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\anygpt-desktop-cli.exe"" --self-test"
Name: "{group}\{cm:UninstallProgram,AnyGPT Desktop}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\AnyGPT Desktop"; Filename: "{app}\anygpt-desktop.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\anygpt-desktop.exe"; Description: "{cm:LaunchProgram,AnyGPT Desktop}"; Flags: nowait postinstall skipifsilent

[Messages]
FinishedLabel=AnyGPT Desktop is installed. On first start it offers to download the model weights (about 30 GB).%n%nIf the microphone stays silent, allow desktop apps to use it in Windows Settings > Privacy & security > Microphone.
