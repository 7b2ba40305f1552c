// Compiles CertificateRegistry.sol with the pinned solc (npm) into a deterministic artifact.
// Usage: node contracts/compile.mjs [--check]   (--check: exit 1 when the artifact is stale)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceName = "CertificateRegistry.sol";
// the artifact ships inside the Python package, where services load it from
const artifactPath = path.join(here, "..", "certflow", "contracts", "CertificateRegistry.json");

const input = {
  language: "Solidity",
  sources: { [sourceName]: { content: fs.readFileSync(path.join(here, sourceName), "utf8") } },
  settings: {
    // cancun: the widest EVM target that current public chains and anvil all accept
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts[sourceName].CertificateRegistry;
const artifact = {
  contractName: "CertificateRegistry",
  compiler: { name: "solc", version: solc.version(), settings: input.settings },
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
  deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
};
const text = JSON.stringify(artifact, null, 2) + "\n";

if (process.argv.includes("--check")) {
  const current = fs.existsSync(artifactPath) ? fs.readFileSync(artifactPath, "utf8") : "";
  if (current !== text) {
    console.error(`${artifactPath} is stale: run 'make contracts'`);
    process.exit(1);
  }
  console.log("contract artifact is up to date");
} else {
  fs.mkdirSync(path.dirname(artifactPath), { recursive: true });
  fs.writeFileSync(artifactPath, text);
  console.log(`wrote ${artifactPath} (${artifact.bytecode.length / 2 - 1} bytes of init code)`);
}
