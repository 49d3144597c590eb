import sys
from pathlib import Path

# The FIX test client (built on simplefix, an independent codec) lives with the session tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fix_session"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The binary gateway's test configuration and client helpers (operators disconnect its users too).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "binary"))
