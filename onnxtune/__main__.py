"""`python -m onnxtune`: the command line."""

from __future__ import annotations

from onnxtune.cli import main

raise SystemExit(main())
