import sys
import numpy as np
from anygpt_desktop.app.mic import MicController
from test_mic_controller import CountingMic

def run(qapp, mode):
    mic = MicController(mic_factory=CountingMic)
    mic.start_monitoring(); mic._timer.stop()
    mic.press()
    for i in range(mode): mic._poll()
    mic.cancel()
    mic.stop_monitoring()

def test_a(qapp): run(qapp, 1)
def test_b(qapp): run(qapp, 1)
