import ArgusServer
import Logging
import Shared

@main
struct Entry {
    static func main() async {
        LoggingSystem.bootstrap { LineLogHandler(label: $0) }
        ServerCommand.refuseUnknownHelpTopic()
        await ServerCommand.main()
    }
}
