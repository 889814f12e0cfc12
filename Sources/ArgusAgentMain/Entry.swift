import ArgusAgent

AgentRootCommand.main()
