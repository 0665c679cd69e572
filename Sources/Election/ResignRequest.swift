/// A step-down request sent through ZooKeeper (`election resign`): a key added to
/// the leader's candidate data. The leader holds a data watch on its own znode, so
/// it hears of the request at once and resigns the way SIGUSR1 makes it: command
/// stopped first, then the znode deleted. Nobody deletes the leader's znode from
/// outside, which would race with a write in flight.
public enum ResignRequest {
    public static let key = "resign_requested"

    public static func isRequested(in data: [UInt8]) -> Bool {
        guard data.count <= 4096, let object = JSONValue.parseObject(data) else { return false }
        return object[key] != nil
    }

    /// The candidate's data with the request added (`id` names who asked and when).
    public static func mark(_ data: [UInt8], id: String) -> [UInt8] {
        let object = data.count <= 4096 ? JSONValue.parseObject(data) ?? [:] : [:]
        let fields = object.filter { $0.key != key }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return Array(JSONValue.object(fields + [(key, .string(id))]).text.utf8)
    }
}
