from cnncost.cli import main

raise SystemExit(main())
