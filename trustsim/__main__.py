import sys

from trustsim.cli import main

sys.exit(main())
