from anygpt_desktop.cli import main

raise SystemExit(main())
