from wsvad.cli import main

raise SystemExit(main())
