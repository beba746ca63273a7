#!/usr/bin/env bash
# Build the Linux installers of AnyGPT Desktop from a clean checkout, in one command:
#   packaging/build_linux.sh
# produces, in $DIST_DIR (default: dist/):
#   anygpt-desktop-<version>-linux-x86_64-<variant>.tar.gz   the one-folder bundle, unpack anywhere and run
#   anygpt-desktop_<version>_amd64.deb                       (…_amd64-cuda.deb for VARIANT=cuda) installs into /opt
#   SHA256SUMS                                               check a download with: sha256sum -c SHA256SUMS
#
# Environment (all optional):
#   VARIANT      cpu (default) or cuda: names the outputs; pair VARIANT=cuda with a CUDA TORCH_SPEC
#   TORCH_SPEC   the torch requirement for a fresh build venv (default torch==2.13.0: the CPU wheel on the project's
#                machines, which have it locally; where pip would pick PyPI's CUDA build, ask for the CPU one with
#                TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"). The CUDA variant:
#                VARIANT=cuda TORCH_SPEC="torch==2.13.0" (PyPI's Linux wheel is the CUDA 13 build; add --isolated where
#                a local CPU wheel folder in pip's configuration would win), or a CUDA 12 build for older drivers:
#                TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" VARIANT=cuda
#                (the script refuses a cpu-labelled build of a CUDA torch and the other way round)
#   BUILD_VENV   an existing venv that already has torch and the project installed (e.g. .venv): its packages are
#                reused through a thin overlay venv that only adds PyInstaller, which saves the torch download
#   DIST_DIR     where the installers go (default: <repo>/dist)
#   WORK_DIR     build scratch space (default: <repo>/build/packaging); the fresh build venv is kept there and reused
#   FORMATS      which installers: "tar deb" (default), or one of them
#   DEB_COMPRESSION  dpkg-deb compressor: gzip (default, every dpkg reads it), xz (smaller, slow), zstd, none
#   GZIP_LEVEL   compression level of the archive and of a gzip/xz/zstd .deb (default 6; 1 is ~2x faster, ~10% larger)
#   PYTHON       the interpreter for a fresh build venv (default python3; 3.11+ with a shared libpython)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGING="$REPO/packaging"
VARIANT=${VARIANT:-cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
DIST_DIR=$(mkdir -p "${DIST_DIR:-$REPO/dist}" && cd "${DIST_DIR:-$REPO/dist}" && pwd)
WORK_DIR=$(mkdir -p "${WORK_DIR:-$REPO/build/packaging}" && cd "${WORK_DIR:-$REPO/build/packaging}" && pwd)
FORMATS=${FORMATS:-tar deb}
DEB_COMPRESSION=${DEB_COMPRESSION:-gzip}
GZIP_LEVEL=${GZIP_LEVEL:-6}
PYTHON=${PYTHON:-python3}
NAME=anygpt-desktop

log() { printf '[build_linux %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(uname -s)" = Linux ] || die "this script builds the Linux installers; see packaging/windows and packaging/macos"
[ "$(uname -m)" = x86_64 ] || die "only x86_64 is packaged (got $(uname -m))"
case " $FORMATS " in *" deb "*) command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian: apt-get install dpkg)";; esac

# 1. A Python environment with torch, the project and PyInstaller.
if [ -n "${BUILD_VENV:-}" ]; then
  BASE_PY="$BUILD_VENV/bin/python"
  [ -x "$BASE_PY" ] || die "BUILD_VENV=$BUILD_VENV has no bin/python"
  "$BASE_PY" -c "import torch, anygpt_desktop" 2>/dev/null || die "BUILD_VENV=$BUILD_VENV lacks torch or the project"
  VENV="$WORK_DIR/overlay-venv"
  if [ ! -x "$VENV/bin/python" ]; then
    log "overlay venv on $BUILD_VENV (adds only PyInstaller)"
    "$BASE_PY" -m venv "$VENV"
  fi
  BASE_SITE=$("$BASE_PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  # addsitedir (not a bare path) so the base venv's own .pth files, such as an editable install, are honoured too
  echo "import site; site.addsitedir('$BASE_SITE')" > "$SITE/zz_anygpt_base_venv.pth"
else
  VENV="$WORK_DIR/venv-$VARIANT"
  if [ ! -x "$VENV/bin/python" ]; then
    log "fresh build venv in $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  log "installing $TORCH_SPEC, then the project"
  # torch first, so the project's torch range is already met and pip does not pull another build
  # shellcheck disable=SC2086  # TORCH_SPEC may carry pip options such as --index-url
  "$VENV/bin/python" -m pip install -q $TORCH_SPEC
  "$VENV/bin/python" -m pip install -q "$REPO"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q -r "$PACKAGING/requirements-build.txt"
"$PY" -c "import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var('Py_ENABLE_SHARED') else 1)" \
  || die "$PY was built without a shared libpython, which PyInstaller needs (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared)"

VERSION=$("$PY" -c "import tomllib; print(tomllib.load(open('$REPO/pyproject.toml', 'rb'))['project']['version'])")
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)")
TORCH_CUDA=$("$PY" -c "import torch; print(torch.version.cuda or '')")
log "AnyGPT Desktop $VERSION, torch $TORCH_VERSION, variant $VARIANT"
if [ "$VARIANT" = cpu ] && [ -n "$TORCH_CUDA" ]; then
  die "VARIANT=cpu but torch $TORCH_VERSION is a CUDA $TORCH_CUDA build (several GB); for a CPU bundle use
  TORCH_SPEC='torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu' (and a fresh WORK_DIR), or set VARIANT=cuda"
fi
if [ "$VARIANT" = cuda ] && [ -z "$TORCH_CUDA" ]; then
  die "VARIANT=cuda but torch $TORCH_VERSION has no CUDA; set TORCH_SPEC to a CUDA build of torch"
fi

# 2. Icons in PNG (menus that do not read SVG) and the one-folder bundle.
ICON_DIR="$WORK_DIR/icons"
export ANYGPT_ICON_DIR="$ICON_DIR"
QT_QPA_PLATFORM=offscreen "$PY" "$PACKAGING/make_icons.py" "$ICON_DIR" 2>/dev/null \
  || { log "warning: PNG icons not rendered; the SVG icon alone is installed"; rm -rf "$ICON_DIR"; }
PYI_DIST="$WORK_DIR/pyinstaller-dist"
log "PyInstaller: $PACKAGING/anygpt-desktop.spec"
start=$(date +%s)
(cd "$REPO" && "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$PYI_DIST" --workpath "$WORK_DIR/pyinstaller-work" "$PACKAGING/anygpt-desktop.spec")
BUNDLE="$PYI_DIST/$NAME"
log "bundle built in $(( $(date +%s) - start )) s: $(du -sh "$BUNDLE" | cut -f1)"
"$BUNDLE/$NAME" --help >/dev/null || die "the bundled program does not start"

SUFFIX="$VARIANT"
DEB_VERSION="$VERSION"
DEB_NAME="${NAME}_${VERSION}_amd64.deb"
if [ "$VARIANT" != cpu ]; then DEB_NAME="${NAME}_${VERSION}_amd64-${VARIANT}.deb"; fi
TAR_NAME="$NAME-$VERSION-linux-x86_64-$SUFFIX.tar.gz"
OUTPUTS=()

# 3. The archive: anygpt-desktop-<version>-linux-x86_64-<variant>/{anygpt-desktop, _internal/, share/}
if [[ " $FORMATS " == *" tar "* ]]; then
  STAGE="$WORK_DIR/tar-stage/$NAME-$VERSION-linux-x86_64-$SUFFIX"
  rm -rf "$WORK_DIR/tar-stage" && mkdir -p "$STAGE/share/applications" "$STAGE/share/icons/hicolor/scalable/apps"
  cp -a "$BUNDLE/." "$STAGE/"
  cp "$REPO/resources/$NAME.desktop" "$STAGE/share/applications/"
  cp "$REPO/resources/icons/anygpt.svg" "$STAGE/share/icons/hicolor/scalable/apps/$NAME.svg"
  if [ -d "$ICON_DIR/hicolor" ]; then cp -r "$ICON_DIR/hicolor/." "$STAGE/share/icons/hicolor/"; fi
  cp "$PACKAGING/linux/README-archive.txt" "$STAGE/README.txt"
  log "archive $TAR_NAME"
  tar -C "$WORK_DIR/tar-stage" --owner=0 --group=0 --numeric-owner -cf - "$(basename "$STAGE")" \
    | gzip -"$GZIP_LEVEL" > "$DIST_DIR/$TAR_NAME.part"
  mv "$DIST_DIR/$TAR_NAME.part" "$DIST_DIR/$TAR_NAME"
  OUTPUTS+=("$TAR_NAME")
fi

# 4. The .deb: /opt/anygpt-desktop (bundle), /usr/bin/anygpt-desktop (launcher), desktop entry and icon.
if [[ " $FORMATS " == *" deb "* ]]; then
  ROOT="$WORK_DIR/deb-root"
  rm -rf "$ROOT"
  mkdir -p "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
           "$ROOT/usr/share/icons/hicolor/scalable/apps" "$ROOT/usr/share/doc/$NAME"
  cp -a "$BUNDLE" "$ROOT/opt/$NAME"
  install -m 0755 "$PACKAGING/linux/anygpt-desktop-launcher.sh" "$ROOT/usr/bin/$NAME"
  install -m 0644 "$REPO/resources/$NAME.desktop" "$ROOT/usr/share/applications/$NAME.desktop"
  install -m 0644 "$REPO/resources/icons/anygpt.svg" "$ROOT/usr/share/icons/hicolor/scalable/apps/$NAME.svg"
  if [ -d "$ICON_DIR/hicolor" ]; then cp -r "$ICON_DIR/hicolor/." "$ROOT/usr/share/icons/hicolor/"; fi
  install -m 0644 "$PACKAGING/linux/copyright" "$ROOT/usr/share/doc/$NAME/copyright"
  INSTALLED_KB=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
  sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@INSTALLED_SIZE@/$INSTALLED_KB/" -e "s/@VARIANT@/$VARIANT/" \
      -e "s/@TORCH@/$TORCH_VERSION/" "$PACKAGING/linux/control.in" > "$ROOT/DEBIAN/control"
  install -m 0755 "$PACKAGING/linux/postinst" "$ROOT/DEBIAN/postinst"
  install -m 0755 "$PACKAGING/linux/postrm" "$ROOT/DEBIAN/postrm"
  log "package $DEB_NAME ($DEB_COMPRESSION)"
  dpkg-deb --root-owner-group -Z"$DEB_COMPRESSION" -z"$GZIP_LEVEL" --build "$ROOT" "$DIST_DIR/$DEB_NAME" >/dev/null
  OUTPUTS+=("$DEB_NAME")
fi

# 5. Checksums of what this run produced (other files already in DIST_DIR are left out).
(cd "$DIST_DIR" && sha256sum "${OUTPUTS[@]}" > SHA256SUMS)
for f in "${OUTPUTS[@]}"; do log "$(du -h "$DIST_DIR/$f" | cut -f1)  $DIST_DIR/$f"; done
log "done: $DIST_DIR/SHA256SUMS"
