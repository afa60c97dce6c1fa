"""Run the demo data generator: `python -m bayesline.demo --help`."""

# main lives in its own module: the package re-exports it, and a package that imported its
# own __main__ would make `python -m` warn about running a module imported twice.
from bayesline.demo.command_line import main

raise SystemExit(main())
