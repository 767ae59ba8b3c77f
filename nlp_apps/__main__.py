import sys

from nlp_apps.cli import main

sys.exit(main())
