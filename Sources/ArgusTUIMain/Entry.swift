import ArgusTUI

TUICommand.main()
