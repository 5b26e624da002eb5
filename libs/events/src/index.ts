export * from "./port.js";
export { openSpool, Spool, type SpoolBatch, type SpoolOptions } from "./spool.js";
export { type PortLogger as Logger, createStderrLogger } from "@tessera/runtime";
export {
  consumerFromConfig,
  memoryBusFromConfig,
  observeConsumer,
  observePublisher,
  publisherFromConfig,
  type KafkaEventsConfig,
} from "./config.js";
export { createMemoryEventBus, type MemoryEventBus, type MemoryEventBusOptions } from "./memory.js";
export {
  createKafkaConsumer,
  createKafkaPublisher,
  DLQ_HEADERS,
  EVENT_CE_TYPE,
  EVENT_CONTENT_TYPE,
  ensureTopic,
  kafkaLogCreator,
  parseBrokers,
  type KafkaConnectionOptions,
  type KafkaConsumer,
  type KafkaConsumerOptions,
  type KafkaPublisher,
  type KafkaPublisherOptions,
} from "./kafka.js";
