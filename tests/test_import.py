"""`import fastip` works with numpy alone: heavy libraries load only when used."""

import subprocess
import sys

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'onnx', 'onnxruntime', 'openvino', 'cv2', 'scipy', 'skimage', 'tensorrt', 'nncf'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import fastip, fastip.runtimes, fastip.bundle, fastip.pipeline, fastip.manifest
from fastip.errors import MissingDependencyError
try:
    fastip.runtimes.open('x', 'openvino')
except MissingDependencyError as e:
    print('ok', e)
"""


def test_import_with_numpy_only():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok") and "fastip[openvino]" in result.stdout
