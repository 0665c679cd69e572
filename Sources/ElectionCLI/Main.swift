import ArgumentParser
import Election
import ElectionDaemon

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
        let arguments = joiningDashedValues(Array(CommandLine.arguments.dropFirst()))
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
            fail("election: " + usageLine(ElectionCommand.message(for: error), arguments: arguments))
        }
    }

    /// One line on stderr, exit 64 (EX_USAGE): nothing has been touched yet.
    static func fail(_ line: String, status: Int32 = 64) -> Never {
        let text = line.split(whereSeparator: \.isNewline).joined(separator: "; ") + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        exit(status)
    }

    /// `--leader-timeout -1s` would take `-1s` for an option ("Missing value"): a value
    /// of a dash and a digit is joined to the option before it (`--leader-timeout=-1s`),
    /// so that validation says what is wrong with it. Nothing after `--` is touched.
    static func joiningDashedValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                result += arguments[index...]
                break
            }
            if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
                arguments[index + 1].hasPrefix("-"), arguments[index + 1].dropFirst().first?.isNumber == true
            {
                result.append(argument + "=" + arguments[index + 1])
                index += 2
                continue
            }
            result.append(argument)
            index += 1
        }
        return result
    }

    /// The parser's message, with the env var of any setting it names, and a hint
    /// when a command was given to `run` without the `--` before it.
    static func usageLine(_ message: String, arguments: [String] = []) -> String {
        var line = message
        let runs = arguments.first.map { $0 == "run" || $0.hasPrefix("-") } ?? false
        if runs, !arguments.contains("--"),
            message.contains("Unknown option") || message.contains("Unexpected argument")
        {
            line += "; to run a command while this replica leads, put it after --: election run [flags] -- CMD ARGS"
        }
        for setting in ElectionConfig.Setting.allCases where message.contains(setting.flag) {
            line += " (\(setting.environmentVariable))"
            break
        }
        return line
    }
}
