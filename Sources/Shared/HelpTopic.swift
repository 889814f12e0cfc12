import ArgumentParser

extension ParsableCommand {
    /// `help NAME …` names a command (ArgumentParser's own `help` prints the top-level help for any words and exits
    /// 0, so `argus-server help bogus` read as a command that exists). Returns the one-sentence error for words
    /// that name no command, nil when they do or when the arguments do not start with `help`.
    public static func unknownHelpTopic(_ arguments: [String]) -> String? {
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
                return "'\(word)' is not a command of \(path.joined(separator: " ")) (its commands: \(names))."
            }
            command = sub
            path.append(sub._commandName)
        }
        return nil
    }

    /// Exits 64 with `unknownHelpTopic`'s sentence, as ArgumentParser does for any other unknown word.
    public static func refuseUnknownHelpTopic(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        guard let message = unknownHelpTopic(arguments) else { return }
        exit(withError: ValidationError(message))
    }
}
