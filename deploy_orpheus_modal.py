#!/usr/bin/env python3
"""Deploy the Orpheus TTS services on Modal (same as `unmute-tts deploy`).

    python deploy_orpheus_modal.py            # deploy both services, print the env block
    python deploy_orpheus_modal.py --dry-run  # print the plan, contact nothing

See "Deploy on Modal" in README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from modal_services.deploy import main

if __name__ == "__main__":
    sys.exit(main())
