import CZooKeeper
import Synchronization

/// C memory for one `zoo_amulti` call: the op array, the result array and the
/// buffers they point at, freed together after the completion.
///
/// `@unchecked Sendable`: it is filled before the call and then only read by the
/// library; `release()` runs once, from the completion or after a refused call.
final class MultiBatch: @unchecked Sendable {
    /// Batches the library still holds, by request token.
    static let pending = Mutex<[UInt: MultiBatch]>([:])

    let count: Int
    let ops: UnsafeMutablePointer<zoo_op_t>
    let results: UnsafeMutablePointer<zoo_op_result_t>
    private var owned: [UnsafeMutableRawPointer] = []

    init(_ input: [ZKOp]) {
        count = input.count
        ops = .allocate(capacity: max(count, 1))
        results = .allocate(capacity: max(count, 1))
        results.initialize(repeating: zoo_op_result_t(), count: max(count, 1))
        for (i, op) in input.enumerated() {
            switch op {
            case .delete(let path, let version):
                zoo_delete_op_init(ops + i, copy(path), version)
            case .check(let path, let version):
                zoo_check_op_init(ops + i, copy(path), version)
            }
        }
    }

    private func copy(_ string: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        pointer.initialize(from: utf8, count: utf8.count)
        owned.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    func release() {
        for pointer in owned { pointer.deallocate() }
        owned.removeAll()
        ops.deallocate()
        results.deallocate()
    }
}
