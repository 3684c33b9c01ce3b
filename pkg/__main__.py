import sys

from hybridsync.engine.cli import main

sys.exit(main())
