import ArgusServer
import Logging

@main
struct Entry {
    static func main() async {
        LoggingSystem.bootstrap { LineLogHandler(label: $0) }
        await ServerCommand.main()
    }
}
