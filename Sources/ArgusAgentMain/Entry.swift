import ArgusAgent
import Shared

AgentRootCommand.refuseUnknownHelpTopic()
AgentRootCommand.main()
