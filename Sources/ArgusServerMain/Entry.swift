import ArgusServer

@main
struct Entry {
    static func main() async {
        await ServerCommand.main()
    }
}
