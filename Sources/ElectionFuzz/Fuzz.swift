import Election

#if canImport(Glibc)
    import Glibc
#endif

// Built two ways (scripts/fuzz.sh): with -DFUZZING and -sanitize=fuzzer it is a
// libFuzzer binary whose target comes from ELECTION_FUZZ_TARGET; in a plain build
// it replays files: `election-fuzz TARGET FILE…`.

#if FUZZING
    private let target: FuzzTarget = {
        guard let name = getenv("ELECTION_FUZZ_TARGET").map({ String(cString: $0) }),
            let target = FuzzTarget(rawValue: name)
        else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            print("set ELECTION_FUZZ_TARGET to one of: \(names)")
            exit(2)
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        target.run(bytes)
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    private func runDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    // SwiftPM links an executable's entry point under this name; libFuzzer's
    // driver is started from it.
    @_cdecl("ElectionFuzz_main")
    public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var count = argc
        var vector = argv
        return runDriver(&count, &vector) { data, size in fuzzOne(data, size) }
    }
#else
    @main
    enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: election-fuzz TARGET FILE… (targets: \(FuzzTarget.allCases.map(\.rawValue)))")
                exit(64)
            }
            for path in arguments.dropFirst() {
                guard let bytes = FileStore.contents(of: path) else { continue }
                target.run(bytes)
            }
        }
    }
#endif
