"""``python -m voicemon``."""

import sys

from voicemon.cli import main

sys.exit(main())
