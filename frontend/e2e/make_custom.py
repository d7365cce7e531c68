"""The e2e run's custom model: a folder per class of generated sounds (tones, chirps, noise
bursts; the class names are unicode and long on purpose), trained for 1 epoch with the real
`envaudio train`, and a 12-s recording of one sound of each class.

    python make_custom.py OUT_DIR    ->  OUT_DIR/my sounds/<label>/..., OUT_DIR/model.pt, OUT_DIR/long.wav
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from conftest import CUSTOM_CLASSES, make_custom_sound, write_class_folders  # noqa: E402

out = Path(sys.argv[1])
data = write_class_folders(out / "my sounds", per_class=5)
subprocess.run([sys.executable, "-m", "envaudio", "train", "--data-root", str(data), "--epochs", "1",
                "--out", str(out / "model.pt"), "--quiet"], check=True, stdout=subprocess.DEVNULL)
sr = 44100
sf.write(out / "long.wav", np.concatenate([make_custom_sound(k, 4.0, sr, 50 + k)
                                           for k in range(len(CUSTOM_CLASSES))]), sr)
