// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title CertificateRegistry
/// @notice Anchors Merkle roots of certificate batches and records revoked leaves.
/// Its interface is a superset of OpenAttestation's DocumentStore 3.0, so documents exported in
/// the OpenAttestation v2 format verify against it with that project's own verifier.
/// Nothing personal is ever stored here: only 32-byte hashes.
contract CertificateRegistry {
    string public name;
    string public constant version = "1.0.0";
    address public owner;

    /// Block number in which a root (or a single document hash) was anchored; 0 = never.
    mapping(bytes32 => uint256) public documentIssued;
    /// Block number in which a hash (root or leaf) was revoked; 0 = never.
    mapping(bytes32 => uint256) public documentRevoked;
    /// Block timestamp in which a root was anchored; 0 = never.
    mapping(bytes32 => uint256) public issuedTimestamp;

    event DocumentIssued(bytes32 indexed document);
    event DocumentRevoked(bytes32 indexed document);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error AlreadyIssued(bytes32 document);
    error AlreadyRevoked(bytes32 document);
    error ZeroAddress();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(string memory registryName) {
        name = registryName;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ---- anchoring (DocumentStore: issue / bulkIssue) ----

    function issue(bytes32 document) public onlyOwner {
        if (documentIssued[document] != 0) revert AlreadyIssued(document);
        documentIssued[document] = block.number;
        issuedTimestamp[document] = block.timestamp;
        emit DocumentIssued(document);
    }

    function bulkIssue(bytes32[] calldata documents) external onlyOwner {
        for (uint256 i = 0; i < documents.length; i++) {
            issue(documents[i]);
        }
    }

    function isIssued(bytes32 document) public view returns (bool) {
        return documentIssued[document] != 0;
    }

    function getIssuedBlock(bytes32 document) external view returns (uint256) {
        if (documentIssued[document] == 0) revert("Error: Only issued document hashes can be revoked");
        return documentIssued[document];
    }

    /// Block number and timestamp of anchoring, both 0 when never anchored (never reverts).
    function anchoredAt(bytes32 root) external view returns (uint256 blockNumber, uint256 timestamp) {
        return (documentIssued[root], issuedTimestamp[root]);
    }

    function isIssuedBefore(bytes32 document, uint256 blockNumber) public view returns (bool) {
        return documentIssued[document] != 0 && documentIssued[document] <= blockNumber;
    }

    // ---- revocation (DocumentStore: revoke / bulkRevoke) ----

    function revoke(bytes32 document) public onlyOwner {
        if (documentRevoked[document] != 0) revert AlreadyRevoked(document);
        documentRevoked[document] = block.number;
        emit DocumentRevoked(document);
    }

    function bulkRevoke(bytes32[] calldata documents) external onlyOwner {
        for (uint256 i = 0; i < documents.length; i++) {
            revoke(documents[i]);
        }
    }

    function isRevoked(bytes32 document) public view returns (bool) {
        return documentRevoked[document] != 0;
    }

    function isRevokedBefore(bytes32 document, uint256 blockNumber) public view returns (bool) {
        return documentRevoked[document] != 0 && documentRevoked[document] <= blockNumber;
    }
}
