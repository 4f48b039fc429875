import sys

from tvmviz.cli import main

sys.exit(main())
