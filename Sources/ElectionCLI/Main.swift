import ArgumentParser
import Election

#if canImport(Glibc)
    import Glibc
#endif

/// The `election` command: `run` (the default) starts a replica.
struct ElectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "election",
        abstract: "Leader election through ZooKeeper ephemeral nodes; only the leader does the work.",
        version: "0.1.0",
        subcommands: [
            RunCommand.self, StatusCommand.self, ResignCommand.self, VerifyCommand.self, ProbeCommand.self,
            WatchdogCommand.self,
        ],
        defaultSubcommand: RunCommand.self)
}

@main
enum Main {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try ElectionCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch let error as ConfigError {
            fail("election: \(error)")
        } catch {
            let code = ElectionCommand.exitCode(for: error)
            if code == .success {
                print(ElectionCommand.fullMessage(for: error))
                exit(0)
            }
            fail("election: " + usageLine(ElectionCommand.message(for: error)))
        }
    }

    /// One line on stderr, exit 64 (EX_USAGE): nothing has been touched yet.
    static func fail(_ line: String, status: Int32 = 64) -> Never {
        let text = line.split(whereSeparator: \.isNewline).joined(separator: "; ") + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        exit(status)
    }

    /// The parser's message, with the env var of any setting it names.
    static func usageLine(_ message: String) -> String {
        var line = message
        for setting in ElectionConfig.Setting.allCases where message.contains(setting.flag) {
            line += " (\(setting.environmentVariable))"
            break
        }
        for name in ["log-format", "log-level"] where message.contains("--" + name) {
            line += " (\(ElectionConfig.Setting.environmentVariable(for: name)))"
        }
        return line
    }
}
