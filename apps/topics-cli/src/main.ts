import { run } from './cli';

// kafkajs keeps sockets open a moment after disconnect; exit as soon as the command is done
void run(process.argv.slice(2)).then((code) => process.exit(code));
