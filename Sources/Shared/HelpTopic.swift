import ArgumentParser

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

extension ParsableCommand {
    /// `help NAME …` names a command (ArgumentParser's own `help` prints the top-level help for any words and exits
    /// 0, so `argus-server help bogus` read as a command that exists). Returns the one-sentence error for words
    /// that name no command and the command whose usage goes with it (the one without such a subcommand); nil when
    /// they do name one or when the arguments do not start with `help`.
    static func helpTopicError(_ arguments: [String]) -> (message: String, path: String)? {
        guard arguments.first == "help", arguments.count > 1 else { return nil }
        var command: ParsableCommand.Type = Self.self
        var path = [command._commandName]
        for word in arguments.dropFirst() where !word.hasPrefix("-") {
            guard
                let sub = command.configuration.subcommands.first(where: {
                    $0._commandName == word || $0.configuration.aliases.contains(word)
                })
            else {
                let names = command.configuration.subcommands.map { $0._commandName }.joined(separator: ", ")
                return (
                    "'\(word)' is not a command of \(path.joined(separator: " ")) (its commands: \(names)).", path.joined(separator: " ")
                )
            }
            command = sub
            path.append(sub._commandName)
        }
        return nil
    }

    /// Exits 64 with `helpTopicError`'s sentence, as ArgumentParser does for any other unknown word.
    public static func refuseUnknownHelpTopic(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        guard let (message, path) = helpTopicError(arguments) else { return }
        // The command's own help, with its parents (a subcommand's `exit(withError:)` would print `Usage: token …`).
        let text = Array("Error: \(message)\nSee '\(path) --help' for its commands.\n".utf8)
        _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        _exit(64)
    }
}
