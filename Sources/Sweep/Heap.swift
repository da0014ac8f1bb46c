/// A binary heap: `pop` returns the element that orders first under `before`.
struct Heap<Element> {
    private var items: [Element] = []
    private let before: (Element, Element) -> Bool

    init(by before: @escaping (Element, Element) -> Bool) { self.before = before }

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ x: Element) {
        items.append(x)
        var c = items.count - 1
        while c > 0, before(items[c], items[(c - 1) / 2]) { items.swapAt(c, (c - 1) / 2); c = (c - 1) / 2 }
    }

    mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < items.count, before(items[l], items[m]) { m = l }
            if r < items.count, before(items[r], items[m]) { m = r }
            if m == p { return top }
            items.swapAt(p, m); p = m
        }
    }
}
