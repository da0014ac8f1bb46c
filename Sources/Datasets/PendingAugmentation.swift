// TEMPORARY until branch issue-15-data merges (it defines these for real).
public enum Augmentation: String, Codable, Sendable, CaseIterable {
    case none
    case cropFlip = "crop-flip"
}

extension ImageDataset {
    public func gather(_ indices: ArraySlice<Int>, augmentation: Augmentation, seed: UInt64, epoch: Int) -> (images: [Float], labels: [Int32]) {
        gather(indices)
    }
}
