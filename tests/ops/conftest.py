import sys
from pathlib import Path

# The FIX test client (built on simplefix, an independent codec) lives with the session tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fix_session"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
