from mes_runtime.cli import main

raise SystemExit(main())
