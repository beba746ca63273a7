# The stock hook copies the metadata of a distribution named "webrtcvad"; the project installs the same module from
# "webrtcvad-wheels", so the stock hook fails the build. Copy the metadata of the distribution that is installed.
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
