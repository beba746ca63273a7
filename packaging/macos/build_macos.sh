#!/usr/bin/env bash
# Build the macOS installer of AnyGPT Desktop in one command, from a clean checkout:
#   packaging/macos/build_macos.sh
# Output in dist/: AnyGPT-Desktop-<version>-macos-<arch>.dmg (AnyGPT Desktop.app + a link to /Applications) and
# SHA256SUMS-macos-<arch>.
#
# NOT RUN on the project's machines (they are Linux only): written for a maintainer on macOS 12+ with Xcode's command
# line tools and Python 3.11 (python.org or Homebrew). torch's macOS wheels on PyPI use the Metal (MPS) GPU; there is
# no CUDA variant on macOS. The .github-style workflow packaging/ci/installers.yml runs this same script on macos-14.
#
# Environment (optional):
#   CODESIGN_IDENTITY   "Developer ID Application: …" to sign for distribution; default "-" (ad-hoc: runs on this Mac,
#                       Gatekeeper warns elsewhere)
#   NOTARY_PROFILE      a `xcrun notarytool store-credentials` profile: notarize and staple the .dmg
#   TORCH_SPEC          default torch==2.13.0;   PYTHON  default python3.11
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PACKAGING="$REPO/packaging"
WORK="$REPO/build/packaging-macos"
DIST="$REPO/dist"
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3.11}
IDENTITY=${CODESIGN_IDENTITY:--}
ARCH=$(uname -m)
APP_NAME="AnyGPT Desktop"
mkdir -p "$WORK" "$DIST"

# 1. Build venv: torch first, then the project and PyInstaller.
VENV="$WORK/venv"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
# shellcheck disable=SC2086
"$PY" -m pip install -q $TORCH_SPEC
"$PY" -m pip install -q "$REPO"
"$PY" -m pip install -q -r "$PACKAGING/requirements-build.txt"
VERSION=$("$PY" -c "import tomllib; print(tomllib.load(open('$REPO/pyproject.toml', 'rb'))['project']['version'])")

# 2. Icon, then the .app (the spec's BUNDLE step writes Info.plist with NSMicrophoneUsageDescription).
export ANYGPT_ICON_DIR="$WORK/icons"
QT_QPA_PLATFORM=offscreen "$PY" "$PACKAGING/make_icons.py" "$ANYGPT_ICON_DIR"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$WORK/pyinstaller-dist" --workpath "$WORK/pyinstaller-work" \
  "$PACKAGING/anygpt-desktop.spec"
APP="$WORK/pyinstaller-dist/$APP_NAME.app"
/usr/libexec/PlistBuddy -c "Print :NSMicrophoneUsageDescription" "$APP/Contents/Info.plist" >/dev/null

# 3. Sign everything inside out with the hardened runtime and the microphone entitlement, then check.
codesign --force --deep --timestamp --options runtime --entitlements "$PACKAGING/macos/entitlements.plist" \
  --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict "$APP"
codesign -d --entitlements - "$APP" 2>/dev/null | grep -q "com.apple.security.device.audio-input"

# 4. Smoke test: the headless self-test of the console program inside the .app.
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/anygpt-desktop-cli" --self-test

# 5. The .dmg: the app and a link to /Applications, compressed.
DMG="$DIST/AnyGPT-Desktop-$VERSION-macos-$ARCH.dmg"
STAGE="$WORK/dmg-stage"
rm -rf "$STAGE" "$DMG" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "$APP_NAME" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
[ "$IDENTITY" = "-" ] || codesign --force --timestamp --sign "$IDENTITY" "$DMG"
if [ -n "${NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi

(cd "$DIST" && shasum -a 256 "$(basename "$DMG")" > "SHA256SUMS-macos-$ARCH")
du -h "$DMG"
