// Creates ACLs on the secured broker of kafka.sh, as its admin user, in one process: Kafka's own
// AclCommand takes one JVM (about 4 s here) per principal and operation set, nine for the services.
//
//   node kafka-acls.cjs <host:port> <secure dir>    reads lines "<principal> <topic|group> <name> <operation>"
//
// Run by infra/local/kafka-secure.sh; kafkajs comes from the project's node_modules.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} = require('kafkajs');

function binding(line) {
  const [principal, type, name, operation] = line.trim().split(/\s+/);
  const resourceType = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP }[type];
  const op = AclOperationTypes[operation];
  if (!principal || resourceType === undefined || !name || op === undefined) {
    throw new Error(`not an ACL line: "${line}"`);
  }
  return {
    principal,
    host: '*',
    resourceType,
    resourceName: name,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    operation: op,
    permissionType: AclPermissionTypes.ALLOW,
  };
}

async function main() {
  const [broker, dir] = process.argv.slice(2);
  const acl = readFileSync(0, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map(binding);
  const kafka = new Kafka({
    clientId: 'kafka-sh-acls',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    ssl: { ca: [readFileSync(join(dir, 'ca.pem'), 'utf8')] },
    sasl: {
      mechanism: 'scram-sha-512',
      username: 'admin',
      password: readFileSync(join(dir, 'admin.password'), 'utf8').trim(),
    },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createAcls({ acl });
  } finally {
    await admin.disconnect();
  }
  process.stdout.write(`created ${acl.length} ACLs\n`);
}

main().catch((error) => {
  process.stderr.write(`kafka-acls: ${error.message}\n`);
  process.exit(1);
});
