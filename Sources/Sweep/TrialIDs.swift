import Distillation
import Foundation
import NeuralNet
import Pruning

/// Trial ids for a whole grid without encoding each trial whole: a trial's
/// canonical JSON is its fields' encodings in sorted key order, and a million
/// trials share a few parents, one fine-tune recipe and a few ratios, so each
/// field is encoded once and the pieces are hashed in order, never joined.
/// The same ids as `TaskSpec.id` (tested).
struct TrialIDs {
    private var parents: [TrainSpec: (json: String, id: String)] = [:]
    private var settings: [TrainingSettings: String] = [:]
    private var kds: [KDSettings: String] = [:]
    private var ratios: [Ratio: String] = [:]
    private var methods: [PruneMethod: String] = [:]
    private var teachers: [TeacherKind: String] = [:]
    private var students: [StudentKind: String] = [:]
    private var threads: [Int: String] = [:]

    /// The trial's id and its parent's (`newParent` the first time that parent is seen).
    mutating func ids(_ t: TrialSpec) -> (trial: String, parent: String, newParent: Bool) {
        let newParent = parents[t.parent] == nil
        if newParent {
            let json = TaskSpec.canonicalJSON(t.parent)
            var h = TaskSpec.hasher(kind: .parent)
            h.add(json)
            parents[t.parent] = (json, TaskSpec.id(kind: .parent, h))
        }
        let parent = parents[t.parent]!
        // JSONEncoder's .sortedKeys order (UTF-8 bytes); kd absent when nil
        let head = [Self.piece("{\"finetune\":", t.finetune, &settings),
                    t.kd.map { Self.piece(",\"kd\":", $0, &kds) } ?? "",
                    Self.piece(",\"method\":", t.method, &methods),
                    ",\"parent\":", parent.json]
        let tail = [Self.piece(",\"ratio\":", t.ratio, &ratios),
                    Self.piece(",\"student\":", t.student, &students),
                    Self.piece(",\"teacher\":", t.teacher, &teachers),
                    Self.piece(",\"threads\":", t.threads, &threads), "}"]
        // neighbouring points differ in the ratio or teacher only: the head's hash is usually the last one's
        if head != lastHead.pieces {
            var h = TaskSpec.hasher(kind: .trial)
            for p in head { h.add(p) }
            lastHead = (head, h)
        }
        var h = lastHead.state
        for p in tail { h.add(p) }
        return (TaskSpec.id(kind: .trial, h), parent.id, newParent)
    }

    private var lastHead: (pieces: [String], state: ContentHasher) = ([], ContentHasher())

    /// `key` and the value's canonical JSON, encoded the first time only.
    private static func piece<T: Encodable & Hashable>(_ key: String, _ value: T, _ cache: inout [T: String]) -> String {
        if let s = cache[value] { return s }
        let s = key + TaskSpec.canonicalJSON(value)
        cache[value] = s
        return s
    }
}
