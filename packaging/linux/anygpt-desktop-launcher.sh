#!/bin/sh
# /usr/bin/anygpt-desktop: runs the bundle installed in ../../opt/anygpt-desktop, found relative to this script,
# so the same launcher works from / (an installed .deb) and from a folder where the .deb was unpacked (dpkg -x).
here=$(dirname "$(readlink -f "$0")")
exec "$here/../../opt/anygpt-desktop/anygpt-desktop" "$@"
